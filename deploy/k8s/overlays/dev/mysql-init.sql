-- One schema per component and one user per component, each allowed only its own schema
-- (DESIGN §1: no service reads another's tables). Run once by the MySQL image at first start.
CREATE DATABASE IF NOT EXISTS tcc_coordinator CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
CREATE DATABASE IF NOT EXISTS tcc_order       CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
CREATE DATABASE IF NOT EXISTS tcc_inventory   CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
CREATE DATABASE IF NOT EXISTS tcc_payment     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;

CREATE USER IF NOT EXISTS 'coordinator'@'%' IDENTIFIED BY 'coordinator-demo-password';
CREATE USER IF NOT EXISTS 'order'@'%'       IDENTIFIED BY 'order-demo-password';
CREATE USER IF NOT EXISTS 'inventory'@'%'   IDENTIFIED BY 'inventory-demo-password';
CREATE USER IF NOT EXISTS 'payment'@'%'     IDENTIFIED BY 'payment-demo-password';

GRANT ALL PRIVILEGES ON tcc_coordinator.* TO 'coordinator'@'%';
GRANT ALL PRIVILEGES ON tcc_order.*       TO 'order'@'%';
GRANT ALL PRIVILEGES ON tcc_inventory.*   TO 'inventory'@'%';
GRANT ALL PRIVILEGES ON tcc_payment.*     TO 'payment'@'%';
FLUSH PRIVILEGES;
