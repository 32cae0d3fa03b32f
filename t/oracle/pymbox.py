#!/usr/bin/env python3
"""Independent oracle: the messages of an mbox as Python's mailbox module
reads them, one line each: "<sha256> <length>".

Python's mailbox.mbox is an mboxo reader that splits at every line starting
"From ", drops the empty LF line before it, and never unquotes. To compare
with mailshift's mboxrd reading we apply, as documented in the test:
  --unquote   remove one '>' from lines matching ">+From " (mboxrd)
  --crlf      treat a CR LF empty line before a boundary as the separator
              (Python compares the empty line with b"\\n" only)
Reads compressed files (gzip, bzip2, xz) through Python's own modules.
  --count     print the number of messages only
  --batch FILE  many mboxes in one run: lines "OPTIONS<TAB>MBOX<TAB>OUTPUT"
"""
import bz2
import gzip
import hashlib
import lzma
import mailbox
import os
import re
import sys
import tempfile

def digests(args, out):
    unquote = "--unquote" in args
    crlf = "--crlf" in args
    count_only = "--count" in args
    path = [a for a in args if not a.startswith("--")][0]
    tmp = None
    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(os.path.splitext(path)[1])
    if opener:
        tmp = tempfile.NamedTemporaryFile(delete=False)
        with opener(path, "rb") as f:
            tmp.write(f.read())
        tmp.close()
        path = tmp.name
    try:
        box = mailbox.mbox(path, create=False)
        keys = list(box.keys())
        if count_only:
            print(len(keys), file=out)
            return
        with open(path, "rb") as f:
            raw = f.read()
        for k in keys:
            data = box.get_bytes(k)
            # Python dropped an LF separator when the byte at its stop is
            # that LF; otherwise a CR LF empty line is still in the message
            stop = box._toc[k][1]
            stripped = stop < len(raw) and raw[stop:stop + 1] == b"\n"
            if crlf and not stripped and (data.endswith(b"\n\r\n") or data == b"\r\n"):
                data = data[:-2]
            if unquote:
                data = re.sub(rb"(?m)^>(>*From )", rb"\1", data)
            print(hashlib.sha256(data).hexdigest(), len(data), file=out)
        box.close()
    finally:
        if tmp:
            os.unlink(tmp.name)


def main():
    args = sys.argv[1:]
    if args[:1] == ["--batch"]:
        # one interpreter for many mboxes: each line of the file is
        # "OPTIONS<TAB>PATH<TAB>OUTPUT"
        for line in open(args[1], encoding="utf-8"):
            opts, path, out = line.rstrip("\n").split("\t")
            with open(out, "w") as f:
                digests(opts.split() + [path], f)
        return
    digests(args, sys.stdout)


main()
