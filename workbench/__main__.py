from workbench.cli import run_module

run_module()
