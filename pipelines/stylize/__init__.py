"""stylize: run any built model on photos, folders and videos (the `stylectl stylize` command).

model.py finds the file and its runtime, tiles.py fits any image size to it, look.py applies
--strength and --preserve-color, frames.py is the one per-frame loop, photos.py and video.py read
and write files, run.py drives a whole command.
"""
