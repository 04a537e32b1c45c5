"""Exporters, all registered in :mod:`.formats` (the one list the CLI, batch, Session and the
GUI read): mask formats (:mod:`.mask_formats`; datasets in :mod:`.davis`, :mod:`.youtube_vis`,
:mod:`.cvat_video`, :mod:`.mots`), reports (:mod:`.report`, :mod:`.report_html` with
:mod:`.report_plots`, :mod:`.quality_report`), edited video (:mod:`.render` runs the pass,
:mod:`.effects` the seven effects, :mod:`.frames` what an effect sees, :mod:`.encode` formats,
audio and writers, :mod:`.timing` the source's frame times; options in :mod:`.video_formats`)
and presence cuts (:mod:`.cut`). :mod:`.common` holds atomic writes, frame ranges and progress."""
