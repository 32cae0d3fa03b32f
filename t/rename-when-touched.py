#!/usr/bin/env python3
# rename-when-touched.py FILE FROM TO CMD...: run CMD; once it first opens
# FILE or changes its links (inotify IN_OPEN | IN_ATTRIB), rename FROM to TO
# (a mail client changing a message's flags); TO "-" removes FROM instead
# (an expunge). Exits with CMD's status, or 77 where inotify cannot be used.
import ctypes, os, select, subprocess, sys

watch, src, dst, cmd = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init()
if fd < 0 or libc.inotify_add_watch(fd, watch.encode(), 0x20 | 0x04) < 0:
    sys.exit(77)
p = subprocess.Popen(cmd)
if select.select([fd], [], [], 600)[0]:
    if dst == '-':
        os.unlink(src)
    else:
        os.rename(src, dst)
else:
    print("never touched:", watch, file=sys.stderr)
sys.exit(p.wait())
