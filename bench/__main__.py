"""``python -m bench``: run every benchmark and print its table."""

import sys

from bench import speech

if __name__ == "__main__":
    code = speech.main(sys.argv[1:])
    # Fan-out to 1,000 simulated loudspeakers (its options: python -m bench.fanout --help).
    from bench import fanout

    sys.exit(code or fanout.main([]))
