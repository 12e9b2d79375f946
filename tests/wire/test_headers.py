"""Object metadata from request headers: the default Content-Type is mimetypes' guess, exactly."""

from __future__ import annotations

import mimetypes
import random

from ossdoc.wire.headers import guess_content_type


def test_the_content_type_guess_is_mimetypes_own() -> None:
    # The guess is cached by extension; compression suffixes, .tgz and URL schemes take the long way.
    extensions = [".txt", ".gz", ".GZ", ".tgz", ".TGZ", ".tar", ".pdf", ".PDF", ".Z", ".bz2", ".md"]
    extensions += [".docx", ".XLSX", "", ".", "..", ".xz", ".br", ".tar.gz", ".jpg", ".svgz", ".unknown"]
    rnd = random.Random(7)
    keys = ["a.txt", ".pdf", "dir/.pdf", "data:text/html,x", "a:b.txt", "x.tar.Z", "dir.d/file", "a.tar.GZ"]
    for _ in range(5000):
        parts = rnd.randint(1, 3)
        keys.append(
            "/".join(
                "".join(rnd.choices("ab./:", k=rnd.randint(0, 4))) + rnd.choice(extensions)
                for _ in range(parts)
            )
        )
    for key in keys:
        expected = mimetypes.guess_type(key, strict=False)[0] or "application/octet-stream"
        assert guess_content_type(key) == expected, key
