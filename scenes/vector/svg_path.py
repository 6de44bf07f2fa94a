"""SVG path data (``d``) read as commands, as written (SVG 2 section 9.3, the path grammar).

:func:`path_commands` splits ``d`` into ``(command, arguments)`` pairs with implicit repetitions
made explicit; :func:`arc_arguments` lists every arc's arguments as written (svgelements keeps only
radii already scaled to fit the chord); :func:`explicit_smooth_controls` rewrites the smooth curve
commands whose reflected control point svgelements computes wrongly.
"""
from __future__ import annotations

import re

_TOKEN = re.compile(r"([MmZzLlHhVvCcSsQqTtAa])|([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")
ARGUMENT_COUNT = {"m": 2, "z": 0, "l": 2, "h": 1, "v": 1, "c": 6, "s": 4, "q": 4, "t": 2, "a": 7}


def path_commands(d):
    """``[(command letter, [numbers])]`` of path data ``d``, one entry per drawn segment (a
    repeated command is listed once per argument group; numbers after a move-to are line-tos).
    Arc flags may be written without separators. None when ``d`` has a syntax error."""
    out, cmd, args, pos = [], None, [], 0
    d = str(d)
    while pos < len(d):
        if d[pos] in " \t\r\n,":
            pos += 1
            continue
        if cmd is not None and cmd in "aA" and len(args) in (3, 4) and d[pos] in "01":   # a flag: one digit
            args.append(float(d[pos]))
            pos += 1
        else:
            m = _TOKEN.match(d, pos)
            if m is None:
                return None
            pos = m.end()
            if m.group(1):
                if args:
                    return None   # a command before the previous one's arguments are complete
                cmd, args = m.group(1), []
                if cmd in "zZ":
                    out.append((cmd, []))
                continue
            args.append(float(m.group(2)))
        if cmd is None or cmd in "zZ":
            return None
        if len(args) == ARGUMENT_COUNT[cmd.lower()]:
            out.append((cmd, args))
            args = []
            if cmd in "mM":
                cmd = "l" if cmd == "m" else "L"   # implicit line-tos after a move-to
    return out if not args else None


def arc_arguments(d):
    """(rx, ry, x-axis rotation, large-arc flag, sweep flag) of every arc command of path data
    ``d``, in order, as written; None when ``d`` has a syntax error."""
    cmds = path_commands(d)
    if cmds is None:
        return None
    return [(abs(a[0]), abs(a[1]), a[2], int(a[3] != 0), int(a[4] != 0)) for c, a in cmds if c in "aA"]


def _fmt(x):
    return repr(float(x))


def explicit_smooth_controls(d):
    """``d`` with every smooth curve command whose predecessor is not of its kind written out:
    an ``S``/``s`` not after ``C``/``S`` becomes ``C`` and a ``T``/``t`` not after ``Q``/``T``
    becomes ``Q``, with the first control point at the current point (SVG 2 section 9.3.6 and
    9.3.7; svgelements reflects the control point of any previous curve). Unchanged when no such
    command exists or ``d`` has a syntax error."""
    cmds = path_commands(d)
    if cmds is None:
        return d
    out, changed = [], False
    cur, start, prev = (0.0, 0.0), (0.0, 0.0), None
    for c, a in cmds:
        lo, rel = c.lower(), c.islower()
        ox, oy = cur if rel else (0.0, 0.0)
        if lo == "s" and prev not in ("c", "s"):
            out.append(f"C{_fmt(cur[0])} {_fmt(cur[1])} {_fmt(a[0] + ox)} {_fmt(a[1] + oy)} "
                       f"{_fmt(a[2] + ox)} {_fmt(a[3] + oy)}")
            changed = True
        elif lo == "t" and prev not in ("q", "t"):
            out.append(f"Q{_fmt(cur[0])} {_fmt(cur[1])} {_fmt(a[0] + ox)} {_fmt(a[1] + oy)}")
            changed = True
        else:
            out.append(c + " ".join(str(int(v)) if lo == "a" and i in (3, 4) else _fmt(v) for i, v in enumerate(a)))
        if lo == "z":
            cur = start
        elif lo == "h":
            cur = (a[0] + ox, cur[1])
        elif lo == "v":
            cur = (cur[0], a[0] + (cur[1] if rel else 0.0))
        else:
            cur = (a[-2] + ox, a[-1] + oy)
        if lo == "m":
            start = cur
        prev = lo
    return " ".join(out) if changed else d
