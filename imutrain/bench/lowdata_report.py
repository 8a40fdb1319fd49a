def write_report(P, out):
    pass
