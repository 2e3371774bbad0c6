"""`make kernels`: the extension image's agent on SONiC's kernels under QEMU (kernels/matrix.py),
from Debian's kernel packages (kernels/fetch.py), checked inside each guest (kernels/guest_check.py)."""
