"""Exporters, all registered in :mod:`.formats` (the one list the CLI, batch, Session and the
GUI read): mask formats (:mod:`.mask_formats`), the tracking report (:mod:`.report`), edited video
(:mod:`.render` runs the pass, :mod:`.effects` the seven effects, :mod:`.frames` what an
effect sees, :mod:`.encode` formats, audio and writers; options in :mod:`.video_formats`) and
presence cuts (:mod:`.cut`). :mod:`.common` holds atomic writes, frame ranges and progress."""
