from .s2t_salign import S2TSAlignModel  # noqa: F401 (registers s2t_salign and its archs)
