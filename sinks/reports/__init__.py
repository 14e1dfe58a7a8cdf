"""Answers people can look at: the report (one offline HTML file and chart files) and the live dashboard.

``queries/`` holds the report's SQL; ``answers.py`` runs it for a period and
filters; ``charts.py`` draws SVG server-side (matplotlib); ``pages.py`` says
what each page shows; ``html.py`` writes the document both share.
"""
