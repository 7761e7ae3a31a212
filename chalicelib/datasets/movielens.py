"""MovieLens `ratings.csv` as the seed's Getting Started prepares it ("Create the
Training Data"): the rating column dropped, the header renamed to
`USER_ID,ITEM_ID,TIMESTAMP`. The file's CRLF line endings are kept, so an
import sees the data exactly as a user following the guide would upload it.
"""
HEADER = b"userId,movieId,rating,timestamp"


def getting_started_csv(path) -> bytes:
    with open(path, "rb") as f:
        lines = f.read().split(b"\r\n")
    if lines[0] != HEADER:
        raise ValueError(f"{path}: expected the MovieLens header {HEADER.decode()}")
    out = [b"USER_ID,ITEM_ID,TIMESTAMP"]
    for line in lines[1:]:
        if line:
            user, item, _rating, timestamp = line.split(b",")
            out.append(b",".join((user, item, timestamp)))
    return b"\r\n".join(out) + b"\r\n"
