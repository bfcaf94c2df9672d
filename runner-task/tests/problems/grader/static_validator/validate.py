# Static validator: a C++ total adds its values itself, without
# std::accumulate. Run in the submission's directory as
# `validate.py language entry_point feedback_dir`.
import os
import sys

language, entry, feedback = sys.argv[1], sys.argv[2], sys.argv[3]
if language == "cpp" and "accumulate" in open(entry).read():
    with open(os.path.join(feedback, "judgemessage.txt"), "w") as m:
        m.write(f"{entry} calls std::accumulate\n")
    sys.exit(43)
sys.exit(42)
