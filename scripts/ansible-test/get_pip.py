"""Stand-in for pip's get-pip.py, for ansible-test on machines that cannot reach its download host.

ansible-test makes each sanity virtual environment without pip and bootstraps it by running
get-pip.py, which it downloads from a host outside the package registries. This script does
the same job with the interpreter's own ensurepip, then installs the pip version asked for
from the package index: `python get_pip_X_Y.py [pip options] pip==X.Y [--no-setuptools] [--no-wheel]`.

ansible-test runs pip with no configuration and a filtered environment, so a proxy's CA in
the system bundle is passed explicitly here; pip 24.2 and later then use the system trust
store themselves (truststore) for the installs ansible-test runs next.
"""

import ensurepip
import os
import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}
SYSTEM_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")

ensurepip.bootstrap(upgrade=True, default_pip=True)
args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
cert = next((path for path in SYSTEM_BUNDLES if os.path.exists(path)), None)
if cert:
    args = ["--cert", cert, *args]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", "--upgrade", "--force-reinstall", *args]))
