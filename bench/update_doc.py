"""Puts the summary of a bench/results report into docs/benchmarks.md, between the
<!-- latest-run:begin --> and <!-- latest-run:end --> markers (bench/run calls it)."""
import os
import re
import sys

report, doc = sys.argv[1], sys.argv[2]
text = open(report).read()
m = re.search(r"^## Summary\n\n(.*?)\n\n", text, re.S | re.M)
summary = m.group(1) if m else "(no summary table in the report)"
last = text.rstrip().splitlines()[-1]
rel = os.path.relpath(report, os.path.dirname(doc))
block = (f"<!-- latest-run:begin -->\nLatest run: [{os.path.basename(report)}]({rel})\n\n"
         f"{summary}\n\n```\n{last}\n```\n<!-- latest-run:end -->")
body = open(doc).read() if os.path.exists(doc) else "# Benchmarks\n\n<!-- latest-run:begin -->\n<!-- latest-run:end -->\n"
body = re.sub(r"<!-- latest-run:begin -->.*?<!-- latest-run:end -->", lambda _: block, body, flags=re.S)
open(doc, "w").write(body)
