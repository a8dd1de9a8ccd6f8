CREATE TABLE `api_tokens` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`name` text NOT NULL,
	`token_hash` text NOT NULL,
	`kind` text DEFAULT 'api' NOT NULL,
	`role` text,
	`created_at` text NOT NULL,
	`last_used_at` text,
	`expires_at` text,
	`revoked_at` text,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `api_tokens_token_hash_unique` ON `api_tokens` (`token_hash`);--> statement-breakpoint
CREATE TABLE `sessions` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`created_at` text NOT NULL,
	`expires_at` text NOT NULL,
	`last_used_at` text,
	`revoked_at` text,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE TABLE `users` (
	`id` text PRIMARY KEY NOT NULL,
	`username` text NOT NULL,
	`password_hash` text NOT NULL,
	`role` text DEFAULT 'member' NOT NULL,
	`created_at` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `users_username_unique` ON `users` (`username`);--> statement-breakpoint
CREATE TABLE `env_move_pending` (
	`env_id` text PRIMARY KEY NOT NULL,
	`columns` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `hosts` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`role` text NOT NULL,
	`address` text,
	`status` text DEFAULT 'online' NOT NULL,
	`last_heartbeat_at` text,
	`inventory` text,
	`containers` text,
	`env_disk` text,
	`labels` text DEFAULT '{}' NOT NULL,
	`draining` integer DEFAULT false NOT NULL,
	`credential_hash` text,
	`pending_credential_hash` text,
	`credential_rotation_requested_at` text,
	`credential_rotated_at` text,
	`created_at` text NOT NULL,
	`removed_at` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `hosts_live_name` ON `hosts` (`name`) WHERE removed_at IS NULL;--> statement-breakpoint
CREATE UNIQUE INDEX `hosts_credential_hash` ON `hosts` (`credential_hash`);--> statement-breakpoint
CREATE UNIQUE INDEX `hosts_pending_credential_hash` ON `hosts` (`pending_credential_hash`);--> statement-breakpoint
CREATE TABLE `join_tokens` (
	`id` text PRIMARY KEY NOT NULL,
	`secret_hash` text NOT NULL,
	`name` text,
	`labels` text DEFAULT '{}' NOT NULL,
	`expires_at` text NOT NULL,
	`used_at` text,
	`host_id` text,
	`created_by` text,
	`created_at` text NOT NULL,
	FOREIGN KEY (`host_id`) REFERENCES `hosts`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `join_tokens_secret_hash_unique` ON `join_tokens` (`secret_hash`);--> statement-breakpoint
CREATE TABLE `environments` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`name` text NOT NULL,
	`slug` text NOT NULL,
	`branch` text,
	`tier` text NOT NULL,
	`status` text DEFAULT 'creating' NOT NULL,
	`status_reason` text,
	`http_fallback_reason` text,
	`host_id` text,
	`moving_to_host_id` text,
	`moved_from_host_id` text,
	`odoo_image` text NOT NULL,
	`domain` text NOT NULL,
	`db_name` text NOT NULL,
	`db_user` text NOT NULL,
	`db_password_enc` text NOT NULL,
	`admin_passwd_enc` text NOT NULL,
	`odoo_admin_password_enc` text,
	`http_port` integer,
	`longpoll_port` integer,
	`workers` integer DEFAULT 0 NOT NULL,
	`cpus` text NOT NULL,
	`memory_mb` integer NOT NULL,
	`modules` text NOT NULL,
	`demo` integer DEFAULT false NOT NULL,
	`current_deployment_id` text,
	`container_name` text,
	`release` integer DEFAULT 0 NOT NULL,
	`ttl_expires_at` text,
	`ttl_warned_at` text,
	`created_by` text,
	`created_at` text NOT NULL,
	`updated_at` text,
	`destroyed_at` text,
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`host_id`) REFERENCES `hosts`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`moving_to_host_id`) REFERENCES `hosts`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`moved_from_host_id`) REFERENCES `hosts`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `environments_live_slug` ON `environments` (`slug`) WHERE status <> 'destroyed';--> statement-breakpoint
CREATE UNIQUE INDEX `environments_live_branch` ON `environments` (`project_id`,`branch`) WHERE status <> 'destroyed' AND branch IS NOT NULL;--> statement-breakpoint
CREATE INDEX `environments_tier` ON `environments` (`tier`);--> statement-breakpoint
CREATE TABLE `projects` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`repo_url` text,
	`repo_password_enc` text,
	`default_branch` text DEFAULT 'main' NOT NULL,
	`webhook_secret_enc` text,
	`access_password_enc` text,
	`created_at` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `projects_name_unique` ON `projects` (`name`);--> statement-breakpoint
CREATE TABLE `deployments` (
	`id` text PRIMARY KEY NOT NULL,
	`env_id` text NOT NULL,
	`release` integer NOT NULL,
	`kind` text DEFAULT 'deploy' NOT NULL,
	`commit_sha` text,
	`branch` text,
	`image` text,
	`status` text DEFAULT 'queued' NOT NULL,
	`modules_updated` text,
	`modules_installed` text,
	`module_checksums` text,
	`container` text,
	`rollback_of` text,
	`migrated` integer DEFAULT false NOT NULL,
	`backup_id` text,
	`gates` text,
	`approval_deadline` text,
	`approval_decision` text,
	`approval_by` text,
	`approval_reason` text,
	`approval_at` text,
	`job_id` text,
	`step_timings` text,
	`error` text,
	`created_by` text,
	`created_at` text NOT NULL,
	`finished_at` text,
	FOREIGN KEY (`env_id`) REFERENCES `environments`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `deployments_env` ON `deployments` (`env_id`,`release`);--> statement-breakpoint
CREATE TABLE `policies` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text,
	`source` text NOT NULL,
	`commit_sha` text,
	`branch` text,
	`document` text NOT NULL,
	`created_at` text NOT NULL,
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE TABLE `audit_logs` (
	`id` text PRIMARY KEY NOT NULL,
	`seq` integer,
	`at` text NOT NULL,
	`actor` text NOT NULL,
	`action` text NOT NULL,
	`target` text,
	`outcome` text DEFAULT 'ok' NOT NULL,
	`ip` text,
	`details` text,
	`prev_hash` text,
	`hash` text
);
--> statement-breakpoint
CREATE INDEX `audit_logs_at` ON `audit_logs` (`at`);--> statement-breakpoint
CREATE UNIQUE INDEX `audit_logs_seq` ON `audit_logs` (`seq`);--> statement-breakpoint
CREATE TABLE `job_steps` (
	`id` text PRIMARY KEY NOT NULL,
	`job_id` text NOT NULL,
	`idx` integer NOT NULL,
	`name` text NOT NULL,
	`title` text NOT NULL,
	`status` text DEFAULT 'pending' NOT NULL,
	`output` text,
	`error` text,
	`started_at` text,
	`finished_at` text,
	`duration_ms` integer,
	FOREIGN KEY (`job_id`) REFERENCES `jobs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `job_steps_job_idx` ON `job_steps` (`job_id`,`idx`);--> statement-breakpoint
CREATE TABLE `jobs` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`lock_key` text,
	`target` text,
	`status` text DEFAULT 'queued' NOT NULL,
	`params` text NOT NULL,
	`result` text,
	`error` text,
	`host_id` text,
	`lease_owner` text,
	`lease_expires_at` text,
	`attempts` integer DEFAULT 0 NOT NULL,
	`cancel_requested_at` text,
	`created_by` text,
	`odooops_version` text,
	`created_at` text NOT NULL,
	`started_at` text,
	`finished_at` text
);
--> statement-breakpoint
CREATE INDEX `jobs_status` ON `jobs` (`status`,`created_at`);--> statement-breakpoint
CREATE INDEX `jobs_lock` ON `jobs` (`lock_key`,`status`);--> statement-breakpoint
CREATE TABLE `backups` (
	`id` text PRIMARY KEY NOT NULL,
	`env_id` text NOT NULL,
	`kind` text NOT NULL,
	`status` text DEFAULT 'running' NOT NULL,
	`db_name` text NOT NULL,
	`size_bytes` integer,
	`local_path` text,
	`s3_key` text,
	`manifest` text,
	`error` text,
	`created_at` text NOT NULL,
	`finished_at` text,
	`expires_at` text,
	FOREIGN KEY (`env_id`) REFERENCES `environments`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `backups_env` ON `backups` (`env_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `github_deliveries` (
	`delivery_id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`event` text NOT NULL,
	`received_at` text NOT NULL,
	`outcome` text,
	`branch` text,
	`sha` text,
	`pushed_at` integer,
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE TABLE `github_previews` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`repo` text NOT NULL,
	`pr_number` integer NOT NULL,
	`env_id` text NOT NULL,
	`comment_id` integer,
	`head_sha` text NOT NULL,
	`created_at` text NOT NULL,
	`closed_at` text,
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`env_id`) REFERENCES `environments`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `github_previews_env` ON `github_previews` (`env_id`);--> statement-breakpoint
CREATE INDEX `github_previews_pr` ON `github_previews` (`project_id`,`repo`,`pr_number`);--> statement-breakpoint
CREATE TABLE `uptime_hours` (
	`env_id` text NOT NULL,
	`hour` text NOT NULL,
	`probes` integer DEFAULT 0 NOT NULL,
	`failures` integer DEFAULT 0 NOT NULL,
	`last_failure` text,
	PRIMARY KEY(`env_id`, `hour`),
	FOREIGN KEY (`env_id`) REFERENCES `environments`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `uptime_hours_hour` ON `uptime_hours` (`hour`);--> statement-breakpoint
CREATE TABLE `dr_tests` (
	`id` text PRIMARY KEY NOT NULL,
	`env_id` text NOT NULL,
	`backup_id` text NOT NULL,
	`job_id` text,
	`created_at` text NOT NULL,
	`started_at` text,
	`finished_at` text,
	`outcome` text DEFAULT 'running' NOT NULL,
	`failed_step` text,
	`reason` text,
	`rto_ms` integer,
	`rpo_sec` integer,
	`host_id` text,
	`host_reason` text,
	FOREIGN KEY (`env_id`) REFERENCES `environments`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `dr_tests_env` ON `dr_tests` (`env_id`,`created_at`);