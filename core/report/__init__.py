"""Reports of runs, written for people: the experiment log as a Markdown or HTML file.

The comparison's rows (what `compare` and the report both tabulate), the curves and the
smoothing every chart draws, what differs between runs' configurations, their samples,
and the files themselves: Markdown with PNG and SVG charts beside it, or one HTML page
with its charts inline. Layer: above experiments (it reads runs, scores and samples
checkpoints); no UI imports. matplotlib, the optional `report` extra, draws the charts
and is imported only when they are drawn.
"""
