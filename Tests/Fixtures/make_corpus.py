"""Writes the image corpus the decoder and ingest tests use (run once; outputs committed).

Made with Pillow and the standard library, independent of libvips, which reads them.
Usage: .venv/bin/python Tests/Fixtures/make_corpus.py
"""
import io
import os
import struct
import zlib

from PIL import Image

OUT = os.path.join(os.path.dirname(__file__), "images")
os.makedirs(OUT, exist_ok=True)


def save(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def gradient(w, h):
    img = Image.new("RGB", (w, h))
    img.putdata([(x * 255 // max(1, w - 1), y * 255 // max(1, h - 1), 128) for y in range(h) for x in range(w)])
    return img


def encode(img, fmt, **kw):
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


# Good images. "landscape" is 64x32 with a red left half, so orientation can be checked.
land = Image.new("RGB", (64, 32), (0, 0, 255))
land.paste((255, 0, 0), (0, 0, 32, 32))
save("landscape.jpg", encode(land, "JPEG", quality=95))
save("landscape.png", encode(land, "PNG"))
save("landscape.bmp", encode(land, "BMP"))
save("landscape.webp", encode(land, "WEBP", quality=95))
frames = [land, Image.new("RGB", (64, 32), (0, 255, 0))]
save("animated.gif", encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100))
save("cmyk.jpg", encode(land.convert("CMYK"), "JPEG", quality=95))
# 16-bit greyscale PNG.
save("gray16.png", encode(Image.new("I;16", (40, 30), 40000), "PNG"))
# Stored as 32x64 (portrait) with EXIF orientation 6 (rotate 90° CW to display):
# displayed it is 64x32 again with red on the left.
stored = land.transpose(Image.Transpose.ROTATE_90)
exif = Image.Exif()
exif[0x0112] = 6
save("exif-rotated.jpg", encode(stored, "JPEG", quality=95, exif=exif.tobytes()))
save("strip-1x40.png", encode(gradient(1, 40), "PNG"))
save("tiny-3x3.png", encode(gradient(3, 3), "PNG"))

# Bad ones.
save("empty.jpg", b"")
good = encode(gradient(300, 200), "JPEG", quality=90)
save("truncated.jpg", good[: len(good) // 3])
save("drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><rect width="100" height="100"/></svg>')
save("page.html", b"<!doctype html><html><body><img src=x></body></html>")
save("notes.txt", b"just some text, not an image\n")
save("strip-1x30.png", encode(gradient(1, 30), "PNG"))  # 30:1, over the 25:1 limit


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


# Decompression bomb: a 30,000 x 30,000 1-bit PNG, all zeros, a few hundred KB.
w = h = 30000
row = b"\x00" + b"\x00" * ((w + 7) // 8)
comp = zlib.compressobj(9)
idat = b"".join(comp.compress(row) for _ in range(h)) + comp.flush()
bomb = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0)) \
    + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
save("bomb-30000.png", bomb)
print("wrote", sorted(os.listdir(OUT)))
