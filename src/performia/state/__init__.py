"""The band's one musical state: what was heard, the form found in it, the prediction of
the next bar, the tempo, the key and the position. Listening writes it (`StateBook`),
the band loop reads it and decides one chord per step for every agent (`decide`)."""
