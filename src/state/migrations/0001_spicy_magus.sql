ALTER TABLE `environments` ADD `odoo_admin_password_enc` text;--> statement-breakpoint
ALTER TABLE `projects` ADD `access_password_enc` text;