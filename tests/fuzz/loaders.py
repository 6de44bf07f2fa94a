"""Property-based fuzzing (Hypothesis) of Penumbra's file loaders: OBJ and PLY meshes, Mitsuba XML
scenes, SVG drawings and JSON room descriptions.

The property: every generated file either loads or is refused with one of the documented error
types naming the input. Run as a script (``python -m tests.fuzz.loaders N``) so that a crash inside
a native loader ends this process, not the test run that started it; each input is written to
``last_input.txt`` before it is tried, so a crash leaves the offending file behind.
"""
from __future__ import annotations

import math
import os
import sys
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import penumbra as pn
from penumbra.renderer.checks import InputError

CLEAR_ERRORS = (pn.SceneError, pn.ParameterError, InputError, FileNotFoundError, MemoryError)
WORK = tempfile.mkdtemp(prefix="penumbra-fuzz-")

numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32),
                    st.integers(-10, 10).map(float), st.sampled_from([0.0, 1e30, -1e30, 1e-30]))
indices = st.integers(-3, 12)


def fmt(x: float) -> str:
    return "nan" if math.isnan(x) else ("inf" if x == math.inf else ("-inf" if x == -math.inf else repr(x)))


def attempt(kind: str, text: str, load) -> None:
    """Write ``text`` to a file and load it; anything but success or a clear error fails."""
    path = os.path.join(WORK, f"input.{kind}")
    with open(path, "w") as f:
        f.write(text)
    with open(os.path.join(WORK, "last_input.txt"), "w") as f:
        f.write(f"{kind}\n{text}")
    try:
        load(path)
    except CLEAR_ERRORS as e:
        assert str(e), f"{kind}: empty error message"
        # the message must say which input it concerns
        assert os.path.basename(path) in str(e) or "XML" in str(e) or "room" in str(e).lower() \
            or "svg" in str(e).lower(), f"{kind}: error does not name the input: {e}"


# -- meshes ------------------------------------------------------------------------------------------

@st.composite
def ply_text(draw):
    nv = draw(st.integers(0, 5))
    faces = draw(st.lists(st.lists(indices, min_size=draw(st.integers(1, 4)), max_size=4), max_size=4))
    declared_v = draw(st.sampled_from([nv, nv + 1, max(nv - 1, 0)]))
    declared_f = draw(st.sampled_from([len(faces), len(faces) + 1]))
    lines = ["ply", "format ascii 1.0", f"element vertex {declared_v}", "property float x",
             "property float y", "property float z", f"element face {declared_f}",
             "property list uchar int vertex_indices", "end_header"]
    lines += [" ".join(fmt(draw(numbers)) for _ in range(3)) for _ in range(nv)]
    lines += [" ".join(map(str, [len(f), *f])) for f in faces]
    return "\n".join(lines) + "\n"


@st.composite
def obj_text(draw):
    lines = [f"v {fmt(draw(numbers))} {fmt(draw(numbers))} {fmt(draw(numbers))}"
             for _ in range(draw(st.integers(0, 5)))]
    lines += ["f " + " ".join(str(i) for i in draw(st.lists(indices, min_size=1, max_size=4)))
              for _ in range(draw(st.integers(0, 4)))]
    return "\n".join(draw(st.permutations(lines))) + "\n"


# -- scenes, drawings, rooms ---------------------------------------------------------------------------

@st.composite
def xml_text(draw):
    shape = draw(st.sampled_from([
        '<shape type="sphere" id="s"><float name="radius" value="{a}"/></shape>',
        '<shape type="rectangle" id="r"><transform name="to_world"><scale value="{a}"/></transform></shape>',
        '<shape type="cube" id="c"><transform name="to_world"><translate x="{a}" y="{b}"/></transform></shape>',
        '<emitter type="point"><point name="position" x="{a}" y="{b}" z="1"/></emitter>',
    ]))
    sensor = ('<sensor type="perspective"><float name="fov" value="{c}"/><sampler type="independent">'
              '<integer name="sample_count" value="{n}"/></sampler><film type="hdrfilm">'
              '<integer name="width" value="{w}"/><integer name="height" value="{w}"/></film></sensor>')
    fields = dict(a=fmt(draw(numbers)), b=fmt(draw(numbers)), c=fmt(draw(numbers)),
                  n=draw(st.integers(-2, 4)), w=draw(st.integers(-2, 8)))
    return '<scene version="3.0.0">' + (sensor + shape).format(**fields) + "</scene>"


@st.composite
def svg_text(draw):
    elements = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["rect", "circle", "path", "polygon", "line"]))
        a, b, c, d = (fmt(draw(numbers)) for _ in range(4))
        elements.append({
            "rect": f'<rect x="{a}" y="{b}" width="{c}" height="{d}" rx="{a}" fill="#c33"/>',
            "circle": f'<circle cx="{a}" cy="{b}" r="{c}" stroke="black" stroke-width="{d}"/>',
            "path": f'<path d="M {a} {b} C {c} {d} {b} {a} {d} {c} Z" fill="blue"/>',
            "polygon": f'<polygon points="{a},{b} {c},{d} {b},{c}"/>',
            "line": f'<line x1="{a}" y1="{b}" x2="{c}" y2="{d}" stroke="red"/>',
        }[kind])
    box = " ".join(fmt(draw(numbers)) for _ in range(4))
    size = draw(st.sampled_from(["16", "0", "-4", "nan", "16px"]))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="16" viewBox="{box}">'
            + "".join(elements) + "</svg>")


@st.composite
def room_text(draw):
    import json
    vec = st.lists(numbers, min_size=draw(st.sampled_from([2, 3, 3, 3])), max_size=3)
    room = {"shoebox": draw(vec), "source": draw(vec), "receiver": draw(vec),
            "fs": draw(st.sampled_from([16000, 0, -1, 8000.5])),
            "humidity": draw(numbers), "temperature": draw(numbers)}
    for key in draw(st.sets(st.sampled_from(sorted(room)))):
        del room[key]
    return json.dumps(room)   # NaN/Infinity as Python writes them


SETTINGS = settings(max_examples=int(os.environ.get("PENUMBRA_FUZZ_EXAMPLES", "25")), deadline=None,
                    derandomize=True, suppress_health_check=list(HealthCheck), database=None)


def fuzzer(strategy, kind: str, load):
    """A Hypothesis test that tries ``load`` on every file ``strategy`` generates (:func:`attempt`)."""
    @SETTINGS
    @given(strategy)
    def run(text):
        attempt(kind, text, load)
    return run


FUZZERS = {"ply": fuzzer(ply_text(), "ply", pn.load_mesh), "obj": fuzzer(obj_text(), "obj", pn.load_mesh),
           "xml": fuzzer(xml_text(), "xml", pn.load_scene), "svg": fuzzer(svg_text(), "svg", pn.load_svg),
           "room": fuzzer(room_text(), "json", pn.load_room)}

if __name__ == "__main__":
    for name in sys.argv[1:] or FUZZERS:
        FUZZERS[name]()
        print(f"{name}: ok", flush=True)
    print(f"inputs in {WORK}")
