-- 0007: each release's description is rendered once, when the release is published, to
-- sanitised HTML kept here with the version of the renderer that made it; the project page only
-- reads it. Rows from before this migration (NULL) and rows of an older renderer are rendered
-- again by the periodic job, which finds them through the index.
ALTER TABLE releases ADD COLUMN description_html TEXT;
ALTER TABLE releases ADD COLUMN description_renderer BIGINT;
CREATE INDEX releases_description_renderer ON releases(description_renderer);
