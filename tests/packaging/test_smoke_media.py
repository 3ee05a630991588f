"""The build's smoke-test files (packaging/smoke_media.py): a DNG, a HEIC and a video per container
that ClipDesk reads, unfrozen, as the frozen program must (the build checks it does)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from clipdesk.core import decode, video


def test_smoke_media_cover_every_video_container_and_read_as_clipdesk_reads_them(
        smoke_media, tmp_path):
    media = smoke_media
    assert {Path(name).suffix for name in media.VIDEOS} == video.VIDEO_SUFFIXES
    assert media.encoder(("no-such-codec", "libx264")) == "libx264"

    made = media.write_media(tmp_path)
    assert [p.name for p in made] == ["sensor.dng", "phone.heic", *media.VIDEOS]
    dng, heic, clips = made[0], made[1], made[2:]

    # the shipped DNG has no preview: LibRaw demosaics its sensor data (the whole of LibRaw)
    photo = decode.decode(dng.read_bytes(), 32, name=dng)
    assert (photo.width, photo.height) == (96, 64)
    rgb = np.asarray(photo.image, np.float32)
    red = rgb[..., 0] > rgb[..., 2] + 60  # the red disc, not a blank or grey picture
    assert 0.05 < red.mean() < 0.5

    # the shipped HEIC: HEVC decoded by libde265 through pi-heif (the installers' reader)
    assert decode.HEIF_AVAILABLE and decode._heif.__name__ == "pi_heif"
    photo = decode.decode(heic.read_bytes(), 32, name=heic)
    assert (photo.width, photo.height) == media.SIZE
    rgb = np.asarray(photo.image, np.float32)
    assert 0.05 < (rgb[..., 0] > rgb[..., 2] + 60).mean() < 0.5  # the red disc
    assert heic.stat().st_size < 20_000

    for clip in clips:
        read = video.read(clip, min_side=32)
        assert 0.8 <= read.duration <= 1.2, clip.name
        assert read.frames, clip.name  # not taken for a blank (uniform) video
        frame = np.asarray(read.frames[0].image, np.float32)
        assert frame.std() > video.UNIFORM_STD, clip.name
        assert clip.stat().st_size < 20_000  # small: the build writes them each time
