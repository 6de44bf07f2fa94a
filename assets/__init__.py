"""Penumbra's bundled assets (scenes, meshes, rooms, SVGs), installed as ``penumbra.data``."""
