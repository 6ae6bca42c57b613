"""The visualizers' views: widgets and drawing only, each from its probe's plain data.

``views/<key>.py`` holds the view of ``viz/<key>.py``'s probe; ``viz._show.show`` builds it.
"""
