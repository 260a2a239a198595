"""mkdocs hooks: add the generated lesson pages to the site and the nav.

Named in mkdocs.yml under ``hooks:``. ``on_files`` runs before mkdocs-jupyter's own
``on_files`` (higher priority) so the plugin picks the generated scripts up and executes them.
"""

from __future__ import annotations

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

from lessonlib.site.build import LESSON_DOCS, lessons_table_markdown, write_lesson_pages
from lessonlib.paths import build_dir

_LESSONS_MARK = "<!-- lessons-table -->"


def on_config(config):
    pages = write_lesson_pages()
    entries = [
        {f"{lesson.id} — {lesson.title}": f"{LESSON_DOCS}/{path.name}"} for lesson, path in pages
    ]
    for item in config["nav"] or []:
        if isinstance(item, dict) and "Lessons" in item:
            item["Lessons"] = entries
    config["extra"]["lesson_pages"] = [str(path) for _, path in pages]
    return config


@event_priority(100)
def on_files(files, config):
    # A plain File rooted in build/docs_src (not File.generated): mkdocs-jupyter wraps
    # files and needs a real src_dir to find the script it executes.
    src_dir = str(build_dir("docs_src"))
    for path in config["extra"]["lesson_pages"]:
        name = path.rsplit("/", 1)[-1]
        files.append(
            File(f"{LESSON_DOCS}/{name}", src_dir, config["site_dir"], config["use_directory_urls"])
        )
    return files


def on_page_markdown(markdown, page, config, files):
    if _LESSONS_MARK in markdown:
        markdown = markdown.replace(_LESSONS_MARK, lessons_table_markdown())
    return markdown
