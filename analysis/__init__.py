"""loftlab analysis: read sweep results (layout: results/README.md) into pandas, and turn them
into the tables and plots of the LoftQ and PiSSA papers.

    load.py     results.h5 / point files -> DataFrames (per point, per point x tensor, curves)
    tables.py   paper-shaped tables, rendered as Markdown and LaTeX
    plots.py    PNG figures (matplotlib, Agg backend)
    report.py   `report.py RESULTS --out DIR`: everything the data allow, in DIR/report.md
"""
