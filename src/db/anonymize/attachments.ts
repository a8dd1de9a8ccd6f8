/**
 * ir_attachment while it is copied: business attachments get a placeholder of the same kind,
 * people's images a generated one, module data and web assets go through unchanged.
 *
 * What is not business data, in Odoo 17 (odoo/addons/base/models/ir_attachment.py, assetsbundle.py,
 * ir_ui_menu.py):
 *   - asset bundles: AssetsBundle.save_attachment creates them with res_model 'ir.ui.view',
 *     public, url '/web/assets/<version>/<bundle>.<ext>', name '<bundle>.<ext>' (web.assets_*);
 *   - menu icons: ir.ui.menu.web_icon_data, an attachment=True Binary (res_model 'ir.ui.menu');
 *   - views' and website pages' images (res_model 'ir.ui.view'), module icons (ir.module.module);
 *   - attachments a module's data files created: an ir_model_data row (model 'ir.attachment')
 *     of a real module, not '__export__'/'__import__' (exports and imports of users' records).
 * People's images: image_1920 and its resized variants (image_1024 … image_128) and stored
 * avatars of res.partner, res.users and hr.employee (mail.avatar.mixin, image.mixin).
 */
import { quoteLiteral } from "../../host/postgres/quote";
import { fakeSql } from "./fake";
import { AVATAR_COUNT, PLACEHOLDERS } from "./placeholders";

/**
 * Without all of these the table is not Odoo's ir_attachment: rules only, no placeholders.
 * (`url` is optional: the stand-in and some old databases have none.)
 */
export const ATTACHMENT_COLUMNS = [
  "id",
  "name",
  "res_model",
  "res_field",
  "res_id",
  "type",
  "mimetype",
  "db_datas",
  "store_fname",
  "checksum",
  "file_size",
] as const;

export interface AttachmentShape {
  /** ir_model_data exists (module data is recognised by its xml id). */
  modelData: boolean;
  /** ir_attachment has a url column. */
  url: boolean;
}

/** Columns the placeholder decides (a rule on them is ignored: the content must stay consistent). */
export const CONTENT_COLUMNS = new Set(["db_datas", "store_fname", "checksum", "file_size", "mimetype"]);

export const BUSINESS = "odooops_b.odooops_business";
const K = "odooops_p.odooops_k";

/** True for module data and web assets (see the file comment). */
export function moduleDataSql(shape: AttachmentShape): string {
  const parts = [
    `"res_model" IN ('ir.ui.view', 'ir.ui.menu', 'ir.module.module', 'ir.qweb')`,
    `"name" LIKE '%.assets\\_%'`,
  ];
  if (shape.url) parts.push(`"url" LIKE '/web/assets/%'`);
  if (shape.modelData) {
    parts.push(
      `EXISTS (SELECT 1 FROM public.ir_model_data odooops_d WHERE odooops_d.model = 'ir.attachment' AND odooops_d.res_id = "id" AND odooops_d.module NOT IN ('__export__', '__import__'))`,
    );
  }
  return parts.map((p) => `coalesce(${p}, false)`).join(" OR ");
}

function placeholderKeySql(): string {
  return `CASE WHEN NOT ${BUSINESS} OR "type" = 'url' OR ("db_datas" IS NULL AND "store_fname" IS NULL) THEN NULL
    WHEN "res_model" IN ('res.partner', 'res.users', 'hr.employee') AND ("res_field" LIKE 'image\\_%' OR "res_field" LIKE 'avatar\\_%') THEN 'avatar' || (abs(coalesce("res_id", 0)) % ${AVATAR_COUNT})::text
    WHEN "mimetype" = 'application/pdf' THEN 'pdf'
    WHEN "mimetype" LIKE 'image/%' THEN 'png'
    WHEN "mimetype" LIKE 'text/%' THEN 'txt'
    ELSE 'bin' END`;
}

/** What follows `FROM public."ir_attachment"` in the COPY query. */
export function attachmentJoinsSql(shape: AttachmentShape): string {
  const values = PLACEHOLDERS.map(
    (p) =>
      `(${quoteLiteral(p.key)}, decode('${p.data.toString("hex")}', 'hex'), '${p.sha1}', ${p.data.length}, ${quoteLiteral(p.mimetype)}, '${p.storeFname}')`,
  ).join(", ");
  return `CROSS JOIN LATERAL (SELECT NOT (${moduleDataSql(shape)}) AS odooops_business) odooops_b
  LEFT JOIN (VALUES ${values}) AS odooops_p(odooops_k, odooops_data, odooops_sha, odooops_size, odooops_mime, odooops_fname)
    ON ${K} = ${placeholderKeySql()}`;
}

/** The expression for one content column (see CONTENT_COLUMNS). */
export function contentColumnSql(column: string): string {
  switch (column) {
    case "db_datas":
      // The placeholder goes where the content was: in the row, or in the filestore.
      return `CASE WHEN ${K} IS NULL THEN "db_datas" WHEN "store_fname" IS NULL THEN odooops_p.odooops_data END`;
    case "store_fname":
      return `CASE WHEN ${K} IS NULL THEN "store_fname" WHEN "store_fname" IS NOT NULL THEN odooops_p.odooops_fname END`;
    case "checksum":
      return `CASE WHEN ${K} IS NULL THEN "checksum" ELSE odooops_p.odooops_sha END`;
    case "file_size":
      return `CASE WHEN ${K} IS NULL THEN "file_size" ELSE odooops_p.odooops_size END`;
    default:
      return `CASE WHEN ${K} IS NULL THEN "mimetype" ELSE odooops_p.odooops_mime END`;
  }
}

/** A rule's expression, applied to business rows only (module data keeps its names). */
export function businessOnlySql(col: string, expr: string): string {
  return `CASE WHEN ${BUSINESS} THEN ${expr} ELSE ${col}::text END`;
}

/** A business link attachment's url, when no rule names the column. */
export function linkUrlSql(): string {
  return `CASE WHEN ${BUSINESS} AND "type" = 'url' THEN ${fakeSql("url", { col: `"url"`, nullable: true, id: `"id"` })} ELSE "url" END`;
}

/**
 * The same replacement as an UPDATE, for a copy that already holds the source's rows (a restored
 * backup, anonymized in place and then rewritten: see backup/anonymize.ts).
 */
export function contentUpdateSql(shape: AttachmentShape): string {
  const cols = [...CONTENT_COLUMNS];
  return `UPDATE public.ir_attachment AS odooops_t SET ${cols.map((c) => `"${c}" = odooops_s."${c}"`).join(", ")}
  FROM (SELECT "id" AS odooops_id, ${cols.map((c) => `${contentColumnSql(c)} AS "${c}"`).join(", ")}
          FROM public.ir_attachment ${attachmentJoinsSql(shape)} WHERE ${K} IS NOT NULL) odooops_s
  WHERE odooops_t."id" = odooops_s.odooops_id`;
}
