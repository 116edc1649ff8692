from corral.interpreter.main import run

run()
