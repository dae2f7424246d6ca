-- CreateIndex
CREATE UNIQUE INDEX "Vm_ip_key" ON "Vm"("ip");
