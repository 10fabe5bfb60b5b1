"""Build the demo corpus from the real photos scikit-image ships (``pip install 'imgpipe[demo]'``).

    python -m imgpipe.demo demo-data/photos

The files are copied byte for byte, so the demo exercises real JPEG/PNG/GIF/TIFF decoding.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

#: Photos with objects the COCO detector knows, plus a few odd formats (grey, palette GIF, multi-page TIFF).
PHOTOS = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "camera.png",
    "horse.png",
    "hubble_deep_field.jpg",
    "coins.png",
    "no_time_for_that_tiny.gif",
    "multipage_rgb.tif",
)


def skimage_data_dir() -> Path:
    try:
        import skimage
    except ImportError:
        sys.exit("The demo corpus comes from scikit-image: pip install -e '.[demo]'")
    return Path(skimage.__file__).parent / "data"


def build(target: Path) -> list[Path]:
    source = skimage_data_dir()
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name in PHOTOS:
        if (source / name).exists():
            shutil.copyfile(source / name, target / name)
            written.append(target / name)
    return written


def main() -> None:
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "demo-data/photos")
    files = build(target)
    print(f"demo corpus: {len(files)} photos from scikit-image in {target}")


if __name__ == "__main__":
    main()
