"""Layer extraction cases that need root (a whiteout is a 0/0 character device)."""

import os
import stat
import tarfile

from services.common import safetar
from tests.unit.test_safetar import E, _layer


def test_directory_whited_out_in_the_same_layer(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    safetar.extract_layer(_layer(E("d", tarfile.DIRTYPE), E("d/f", data=b"x"), E(".wh.d")), str(root))
    st = os.lstat(root / "d")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
