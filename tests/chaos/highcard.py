#!/usr/bin/env python3
"""highcard.py COUNT SEED START_MTIME < recorded.ndjson > timeline.ndjson

A high-cardinality timeline for `make chaos`'s highcard profile: COUNT RSVPs made from the recorded
ones (tests/data), where every few RSVPs share one key, as in recorded Meetup data (2,265 keys in
2,865 RSVPs) and unlike the synthetic stream (~39k keys per million). Line i is recorded line
(seeded pick), with rsvp_id = 1900000000 + i, mtime = START_MTIME + i, and its event name suffixed
with the number of its key group (i // 3 in a seeded order): about COUNT / 3 keys per response."""
import json
import random
import sys


def main():
    count, seed, start = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    recorded = [json.loads(l) for l in sys.stdin if l.strip()]
    rng = random.Random(seed)
    out = sys.stdout
    for i in range(count):
        r = json.loads(json.dumps(recorded[rng.randrange(len(recorded))]))
        r["rsvp_id"] = 1900000000 + i
        r["mtime"] = start + i
        ev = r.setdefault("event", {})
        ev["event_name"] = "%s #%d" % (ev.get("event_name") or "", (i + rng.randrange(3)) // 3)
        out.write(json.dumps(r, ensure_ascii=False, separators=(",", ":")))
        out.write("\n")


if __name__ == "__main__":
    main()
