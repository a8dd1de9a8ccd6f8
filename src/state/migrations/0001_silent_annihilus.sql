ALTER TABLE `policies` ADD `branch` text;--> statement-breakpoint
ALTER TABLE `github_deliveries` ADD `branch` text;--> statement-breakpoint
ALTER TABLE `github_deliveries` ADD `sha` text;--> statement-breakpoint
ALTER TABLE `github_deliveries` ADD `pushed_at` integer;