"""`performia render`: the band plays along with a take faster than real time, with the code
that plays live, and supernova renders it in non-real-time mode (docs/RENDER.md).

    take ─► hearing   (the server's analysis frames in numpy, stamped with their arrival)
         ─► performance (the live follower, state book, band loop, agents on the offline
                         clock; each reading handled when it would have arrived live)
         ─► score     (the live dispatcher's bundles, the node tree, the master, the take)
         ─► nrt       (supernova -N, its output cut to the song's first sample)
         ─► output    (out.wav, stems, --events, written to temporary names, then renamed)
"""
