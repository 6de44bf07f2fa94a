"""Vector-graphics scenes (the 2D member of Penumbra's scene family): model, named parameters, SVG I/O."""
from .model import (CAPS, FILL_RULES, JOINS, SPREADS, Gradient, Group, Shape, ShaderPaint, VectorParameters,
                    VectorScene, circle, ellipse, path, polygon, rect, solid)
from .svg import load_svg, save_svg, to_svg_string

__all__ = ["CAPS", "FILL_RULES", "JOINS", "SPREADS", "Gradient", "Group", "Shape", "ShaderPaint",
           "VectorParameters", "VectorScene", "circle", "ellipse", "path", "polygon", "rect", "solid", "load_svg",
           "save_svg", "to_svg_string"]
