#!/usr/bin/python3
"""Draw the small test images of the tiny LLaVA fixture.

Usage:
    /usr/bin/python3 tests/llava/make_images.py tests/llava/images

Each image exercises one path of CLIPImageProcessor (shortest edge 30, centre
crop 30x30):
  wide.png   64x40 RGB   shrink: 64x40 -> 48x30 (antialiased bicubic), crop x 9..38
  tall.jpg   33x71 RGB   JPEG q90, shrink: 33x71 -> 30x64, crop y 17..46
  small.png  17x23 RGBA  enlarge: 17x23 -> 30x40, crop y 5..34; partly
                         transparent pixels keep distinct RGB values, because
                         convert("RGB") drops alpha rather than compositing
  gray.png   45x45 L     greyscale, convert("RGB") replicates the channel;
                         45x45 -> 30x30, no crop

The pictures are drawn from integer formulas only, so they do not depend on
any random generator.  The committed files are what the golden values were
computed from; PNG/JPEG encoders may produce other bytes in other library
versions, so do not regenerate them unless the golden file is regenerated too.
"""

import argparse
import os
import sys

from PIL import Image, ImageDraw


def wide():
    img = Image.new("RGB", (64, 40))
    px = img.load()
    for y in range(40):
        for x in range(64):
            # Diagonal gradients in every channel, so that resampling errors show.
            px[x, y] = ((x * 4) % 256, (y * 6) % 256, (255 - x * 2 - y * 2) % 256)
    d = ImageDraw.Draw(img)
    d.ellipse((6, 6, 26, 26), fill=(220, 30, 30))           # red circle
    d.rectangle((36, 10, 56, 30), fill=(30, 40, 210))       # blue square
    d.line((0, 39, 63, 0), fill=(255, 255, 0), width=1)     # thin yellow diagonal
    return img


def tall():
    img = Image.new("RGB", (33, 71), (240, 240, 235))
    d = ImageDraw.Draw(img)
    d.polygon([(16, 8), (30, 34), (2, 34)], fill=(20, 160, 40))   # green triangle
    d.ellipse((5, 40, 27, 62), outline=(10, 10, 10), width=2)     # black ring
    for y in range(66, 71):
        for x in range(33):
            img.putpixel((x, y), (x * 7 % 256, 0, y * 3 % 256))
    return img


def small():
    img = Image.new("RGBA", (17, 23))
    px = img.load()
    for y in range(23):
        for x in range(17):
            alpha = 255 if (x + y) % 3 else (x * 15) % 256   # every third pixel partly transparent
            px[x, y] = ((x * 15) % 256, (y * 11) % 256, 128 + (x * y) % 100, alpha)
    d = ImageDraw.Draw(img)
    d.rectangle((4, 6, 12, 14), fill=(200, 120, 0, 255))          # orange square
    return img


def gray():
    img = Image.new("L", (45, 45))
    px = img.load()
    for y in range(45):
        for x in range(45):
            px[x, y] = (x * 5 + y * 2) % 256
    d = ImageDraw.Draw(img)
    d.ellipse((12, 12, 32, 32), fill=250)
    return img


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", help="folder to write the images into")
    args = parser.parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    wide().save(os.path.join(args.out_dir, "wide.png"))
    tall().save(os.path.join(args.out_dir, "tall.jpg"), quality=90)
    small().save(os.path.join(args.out_dir, "small.png"))
    gray().save(os.path.join(args.out_dir, "gray.png"))
    for name in sorted(os.listdir(args.out_dir)):
        path = os.path.join(args.out_dir, name)
        with Image.open(path) as im:
            print(f"{name}: {im.size[0]}x{im.size[1]} {im.mode}, {os.path.getsize(path)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
