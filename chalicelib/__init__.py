# 0.1.0: the 2019 preview's API (the seed); 0.2.0: today's API beside it (issue 12).
__version__ = "0.2.0"
