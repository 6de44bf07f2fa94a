"""The two boundary-term estimators that the path-tracer tests run, and the reconstruction filter
each runs with: ``warped_area``'s primary term needs a continuous filter (a box filter's pixel
borders are static discontinuities no warp field can follow), so scenes that the suite renders
with a box filter use a Gaussian one for it."""
ESTIMATORS = ("edge_sampling", "warped_area")
FILTER = {"edge_sampling": "box", "warped_area": "gaussian"}
