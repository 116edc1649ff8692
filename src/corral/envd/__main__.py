from corral.envd.main import run

run()
