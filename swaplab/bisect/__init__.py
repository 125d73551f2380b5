"""``swaplab bisect``: the commit that broke it, found on the blades.

``gittree`` reads the user's tree (never writes it), ``engine`` drives the steps (ends first, the search,
the confirmation) from a state saved after each one, ``weak`` calls a noisy ratio good, bad or not yet
sure, and ``steps`` judges one commit by building it and running the suites that judge the regression.
"""
