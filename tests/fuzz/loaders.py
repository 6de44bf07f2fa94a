"""Property-based fuzzing (Hypothesis) of Penumbra's file loaders: OBJ and PLY meshes, Mitsuba XML
scenes, SVG drawings, JSON room descriptions, OBJ rooms, and the camera calibrations of photo sets
(COLMAP text models, NeRF ``transforms.json``, Middlebury ``*_par.txt``).

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


BOX_V = [(0, 0, 0), (4, 0, 0), (4, 3, 0), (0, 3, 0), (0, 0, 2.5), (4, 0, 2.5), (4, 3, 2.5), (0, 3, 2.5)]
BOX_F = [(1, 3, 2), (1, 4, 3), (5, 6, 7), (5, 7, 8), (1, 2, 6), (1, 6, 5), (2, 3, 7), (2, 7, 6), (3, 4, 8),
         (3, 8, 7), (4, 1, 5), (4, 5, 8)]


@st.composite
def room_obj_text(draw):
    """A 4 x 3 x 2.5 m box room as OBJ with perturbed vertices, dropped, flipped or broken faces and
    group/material lines: the loader must simulate it or say what is wrong with the file."""
    lines = []
    for v in BOX_V:
        jitter = draw(st.sampled_from([0.0, 0.0, 1e-7, 0.3])) if draw(st.booleans()) else draw(numbers)
        lines.append("v " + " ".join(fmt(c + (jitter if k == 2 else 0.0)) for k, c in enumerate(v)))
    for k, f in enumerate(BOX_F):
        action = draw(st.sampled_from(["keep", "keep", "keep", "drop", "flip", "index"]))
        if action == "drop":
            continue
        if action == "flip":
            f = f[::-1]
        if action == "index":
            f = (f[0], draw(indices), f[2])
        if k % 2 == 0:
            lines.append(draw(st.sampled_from(["g wall", f"o part{k}", "usemtl carpet", "usemtl unknown_mat"])))
        lines.append("f " + " ".join(map(str, f)))
    return "\n".join(lines) + "\n"


def load_obj_room(path):
    return pn.load_room(path, source=[1.0, 1.0, 1.2], receiver=[3.0, 2.0, 1.5], fs=8000)


# -- photo-set calibrations ----------------------------------------------------------------------------

@st.composite
def colmap_text(draw):
    """cameras.txt and images.txt of a COLMAP text model, joined by a line '---'."""
    model, nparams = draw(st.sampled_from([("PINHOLE", 4), ("SIMPLE_PINHOLE", 3), ("SIMPLE_RADIAL", 4),
                                           ("OPENCV", 8), ("FISHEYE", 4), ("", 0)]))
    nparams += draw(st.sampled_from([0, 0, 0, -1, 1]))
    cam_id = draw(st.sampled_from([1, 1, 2]))
    size = " ".join(str(draw(st.integers(-1, 64))) for _ in range(2))
    cams = ["# Camera list", f"1 {model} {size} " + " ".join(fmt(draw(numbers)) for _ in range(nparams))]
    images = []
    for i in range(draw(st.integers(0, 3))):
        q = " ".join(fmt(draw(numbers)) for _ in range(4))
        t = " ".join(fmt(draw(numbers)) for _ in range(draw(st.sampled_from([3, 3, 2]))))
        images += [f"{i + 1} {q} {t} {cam_id} view{i}.png", ""]
    return "\n".join(cams) + "\n---\n" + "\n".join(images) + "\n"


def load_colmap_text(path):
    from penumbra.scenes.colmap import read_colmap
    folder = path + ".d"
    os.makedirs(folder, exist_ok=True)
    cams, images = open(path).read().split("\n---\n")
    for name, text in (("cameras.txt", cams), ("images.txt", images)):
        with open(os.path.join(folder, name), "w") as f:
            f.write(text)
    return read_colmap(folder)


@st.composite
def transforms_text(draw):
    import json
    matrix = [[draw(numbers) for _ in range(4)] for _ in range(draw(st.sampled_from([4, 4, 3])))]
    frame = {"file_path": draw(st.sampled_from(["view0.png", "", "../missing/x.png"])),
             "transform_matrix": draw(st.sampled_from([matrix, [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0],
                                                                [0, 0, 0, 1]], "eye", None]))}
    data = {"camera_angle_x": draw(numbers), "w": draw(st.sampled_from([64, 0, -3, 2.5])), "h": 48,
            "fl_x": draw(numbers), "cx": draw(numbers), "frames": draw(st.sampled_from([[frame], [], "x"]))}
    for key in draw(st.sets(st.sampled_from(["camera_angle_x", "w", "fl_x", "cx"]))):
        del data[key]
    return json.dumps(data)


@st.composite
def middlebury_text(draw):
    rows = [" ".join(["view.png"] + [fmt(draw(numbers)) for _ in range(draw(st.sampled_from([21, 21, 20])))])
            for _ in range(draw(st.integers(0, 2)))]
    return "\n".join([str(draw(st.sampled_from([len(rows), len(rows) + 1, -1])))] + rows) + "\n"


def load_transforms(path):
    from penumbra.scenes.nerf_transforms import read_transforms_json
    return read_transforms_json(path)


def load_middlebury(path):
    from penumbra.scenes.middlebury import read_middlebury
    return read_middlebury(path, image_size=(64, 48))


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
           "room": fuzzer(room_text(), "json", pn.load_room),
           "room_obj": fuzzer(room_obj_text(), "obj", load_obj_room),
           "colmap": fuzzer(colmap_text(), "colmap", load_colmap_text),
           "transforms": fuzzer(transforms_text(), "json", load_transforms),
           "middlebury": fuzzer(middlebury_text(), "txt", load_middlebury)}

if __name__ == "__main__":
    for name in sys.argv[1:] or FUZZERS:
        FUZZERS[name]()
        print(f"{name}: ok", flush=True)
    print(f"inputs in {WORK}")
