"""Reconstruct an object from calibrated photographs: a coloured mesh and a report, in one call.

:func:`reconstruct_photos` (also ``penumbra reconstruct --photos DIR --cameras FILE``) runs:

1. **Photos** (:func:`~scenes.photo_set.load_photo_set`): the calibration (COLMAP text/binary,
   ``transforms.json`` or Middlebury ``*_par.txt``) becomes one Mitsuba ``perspective`` sensor per
   photo with its principal point; photo and mask are resampled, undistorted, onto a film ``width``
   pixels wide; views are split into training and held-out views.
2. **Initial shape** (:func:`visual_hull`, :func:`initial_mesh`): the visual hull of the training
   masks (Laurentini 1994) is carved on a voxel grid around the point nearest to the rays through
   the masks' centroids, with the masks as they are (``hull_holes="keep"``: see-through gaps in a
   silhouette carve tunnels, so the hull may have holes) or hole-filled (``"fill"``: for masks that
   miss dark parts inside the object's outline). ``init="hull"``: the hull's surface by marching
   cubes (Lorensen and Cline 1987; scikit-image), remeshed to even edges of ``max_edge_px`` film
   pixels (Botsch and Kobbelt 2004; gpytoolbox), any genus; needs the ``photos`` extra and falls back
   to ``"star"`` without scikit-image. ``init="star"``: an icosphere around the hull's innermost voxel,
   shrunk along each vertex's direction to where the ray from that voxel first leaves the hull
   (genus 0). ``init="ellipsoid"``: the ellipsoid inscribed in the hull's bounding box.
3. **Fit** in stages: vertex positions by Large Steps (Nicolet et al. 2021,
   :mod:`optim.large_steps`, λ smoothing, uniform Adam), albedo (starting at the targets' median
   colour) per vertex (``albedo="vertex"``, a ``mesh_attribute`` reflectance), one RGB value, or a
   texture on a UV atlas (``albedo="texture"``, :mod:`.texture`, started from the photos projected
   onto the mesh), and, with ``lighting="sky"``, the radiance of a uniform sky (otherwise fixed at 1),
   or with ``lighting="envmap"`` a low-resolution environment map (:mod:`.lighting`), or with
   ``lighting="area"`` the sky and a few area lights' radiance (:mod:`.area_lights`). The renderer is
   ``edge_sampling`` (Li et al. 2018: interior + primary visibility boundary term) with the sky
   hidden, so the background renders black. The loss is the mean L1 difference to the *silhouette +
   shading target*: the photo inside the mask (coverage times the photo, floored at ``floor`` times
   its median inside the mask so that shadowed object pixels still differ from the background),
   black outside. Between stages the mesh is refined by midpoint subdivision while its mean edge is
   longer than ``max_edge_px`` film pixels at the object's distance (:mod:`optim.remesh`,
   coarse-to-fine as in Large Steps). With ``appearance_steps``, the per-vertex albedo (and sky) is
   then refined on the final mesh, each step replayed by ``dr.freeze`` (:mod:`.appearance`).
4. **Outputs** in ``out``: ``mesh.ply`` / ``mesh.obj`` (vertex colours = albedo; with a texture
   ``mesh.obj`` + ``mesh.mtl`` + ``mesh.png``), ``envmap.exr`` / ``envmap.png`` (``lighting="envmap"``),
   ``lights.json`` (``lighting="area"``),
   ``views/NN_<name>.png`` (photo target | render | |error|), ``views.png`` (all views),
   ``turntable.gif`` / ``turntable.png``, ``loss.png`` / ``loss.json`` (all stages),
   ``report.json`` (silhouette IoU and PSNR on training and held-out views, initial and final),
   and ``stages/K/`` with each stage's checkpoint, so that ``resume=True`` continues a run.
   (:mod:`.outputs`; steps 1-4 in order: :mod:`.pipeline`.)

Metrics: silhouette IoU of the mesh's silhouette (one ray per film pixel centre) against the mask
(coverage > 0.5); PSNR = 10 log10(1 / MSE) of the render (clipped to [0, 1], linear RGB) against the
silhouette + shading target over the whole film.
"""
from .fit import fit_stage
from .initial_shape import (HULL_HOLES, INIT, carve, film_pixel_size, film_projection, hull_surface, initial_mesh,
                            mask_rays, nearest_point_to_rays, start_shape, visual_hull)
from .metrics import evaluate, psnr, summary
from .outputs import turntable_cameras, write_turntable, write_views
from .pipeline import ALBEDO, LIGHTING, PhotoReconstruction, reconstruct_photos
from .scene import Model, build_scene, targets

__all__ = ["ALBEDO", "HULL_HOLES", "INIT", "LIGHTING", "Model", "PhotoReconstruction", "build_scene", "carve",
           "evaluate", "film_pixel_size", "film_projection", "fit_stage", "hull_surface", "initial_mesh", "mask_rays",
           "nearest_point_to_rays", "psnr", "reconstruct_photos", "start_shape", "summary", "targets",
           "turntable_cameras", "visual_hull", "write_turntable", "write_views"]
