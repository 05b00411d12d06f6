# tests/farm_suite is a CI user's suite that a farm of Dockyard hosts runs (a project of
# its own, with its own pytest.ini): tests/integration/test_farm.py and bench/farm.py run
# it against the farm they stand up; the project's own run never collects it.
collect_ignore = ["farm_suite"]
