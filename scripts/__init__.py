"""Deployment helpers: the embedded emulator, packaging, one CloudFormation deploy
path for ministack, LocalStack and AWS, and the Getting Started walkthrough.

Not packaged into the Lambda functions (chalice ships only app.py, chalicelib/
and vendor/).
"""
