ALTER TABLE `audit_logs` ADD `seq` integer;--> statement-breakpoint
ALTER TABLE `audit_logs` ADD `prev_hash` text;--> statement-breakpoint
ALTER TABLE `audit_logs` ADD `hash` text;--> statement-breakpoint
CREATE UNIQUE INDEX `audit_logs_seq` ON `audit_logs` (`seq`);