"""The muxer behind the encoder sink: everything between a mask and the bytes of a container.

:mod:`~livethresh.encode.plan` resolves the settings against one output before any I/O, with
the rules of :mod:`~livethresh.encode.containers` (what a container is and accepts) and
:mod:`~livethresh.encode.codecs` (what an encoder takes); :mod:`~livethresh.encode.picture`
lays masks into encoder frames; :mod:`~livethresh.encode.audio` and
:mod:`~livethresh.encode.subtitles` carry the input's other streams, as the tracks of
:mod:`~livethresh.encode.tracks`; :mod:`~livethresh.encode.y4m` fixes the y4m header.

The sink itself is :class:`livethresh.sinks.encoder.EncoderSink`. Nothing here knows the
sources: an input already being demuxed is reached through the small
:class:`~livethresh.encode.tracks.DemuxedInput` protocol.
"""
