"""Make ``fairseq-train/-generate --user-dir fairseq_salign ... --help`` list the plugin's options.

fairseq parses the command line twice: once to learn --task/--arch/--criterion, then again after
adding their options. ``--help`` fires during the first pass, so it never shows task, model or
criterion options. When help is asked for, we drop it from the first pass and print the help of
the complete parser instead (fairseq's own ``modify_parser`` hook runs right before the second
pass). Without ``--help`` fairseq's parser runs untouched.
"""
import sys

_HELP = ("-h", "--help")


def install() -> None:
    from fairseq import options

    original = options.parse_args_and_arch
    if getattr(original, "_salign_help", False):
        return

    def parse_args_and_arch(parser, input_args=None, *args, modify_parser=None, **kwargs):
        argv = sys.argv[1:] if input_args is None else list(input_args)
        if not any(a in _HELP for a in argv):
            return original(parser, input_args, *args, modify_parser=modify_parser, **kwargs)
        calls = []

        def print_full_help(p):
            if modify_parser is not None:
                modify_parser(p)
            calls.append(p)
            if len(calls) == 2:  # every option is known now
                p.print_help()
                sys.exit(0)

        stripped = [a for a in argv if a not in _HELP]
        return original(parser, stripped, *args, modify_parser=print_full_help, **kwargs)

    parse_args_and_arch._salign_help = True
    options.parse_args_and_arch = parse_args_and_arch
