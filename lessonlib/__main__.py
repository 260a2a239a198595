from lessonlib.cli import main

main()
